"""Reading validation before billing (VEE), estimates and swapped-meter detection: pure rules."""
