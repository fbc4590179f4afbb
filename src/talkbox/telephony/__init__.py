"""The call model, its rules (pure), the conference store and the shell that applies them."""
