"""Twilio as the provider: REST calls (provider.py), TwiML and webhook URLs (twiml.py),
Voice access tokens (tokens.py) and settings (settings.py).

Nothing is imported here, so the callbacks can take twiml.py without the rest.
"""
