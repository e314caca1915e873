"""Completion webhooks: the operator's allowlist, signing, and delivery with retries."""
