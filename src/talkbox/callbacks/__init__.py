"""Provider webhooks: Twilio's requests arrive here, are checked, answered and published.

The built-in engine reports through the bus directly; only Twilio calls in over HTTP.
"""
