"""The Textual console for volunteers and night staff: a network client of the node (never imports node/).

Entry points: ``tui.app:ConsoleApp`` and ``tui.console:run_console`` (``fristed console [URL]``).
"""
