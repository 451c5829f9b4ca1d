"""
The sandbox: every installed mall's emulator on loopback, seeded with demo data.
"""
