"""The console's screens: node picker, login, pin warning, main view, dialogs, help, letters."""
