"""Telephony providers: each folder is one, behind telephony.provider.Provider."""
