"""Synthetic data and random-weight models for tests and demos; nothing here downloads.

``drawing`` paints recognisable good and defective samples with exact masks, ``datasets`` writes them in the
on-disk layouts of MVTec AD, VisA and MVTec LOCO AD, and ``contact_sheet`` renders any dataset root (synthetic or
real) as one PNG to look at. ``python -m synthetic --help`` is the command line.
"""
