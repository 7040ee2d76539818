"""The only package that imports a Telegram framework: one module per ``RUNTIME``.

``aiogram_runtime`` and ``ptb_runtime`` each hold a ``TelegramClient`` (bot/runtime.py) and a
``TelegramSender`` (bot/sending.py) in their framework's types; everything else, framework-free,
lives outside this package. bot/app.py imports the configured one on demand.
"""
