"""Peer links: the authenticated, encrypted link, the peer manager, and the messages."""
