"""Open data: the Open311 API and the public transparency page (issue 14)."""
