"""The Textual console for volunteers and night staff, a network client of the node. Not built yet."""
