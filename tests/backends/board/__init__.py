"""Tests of the board backend: block design, bitstream flow, Makefile, PYNQ driver."""
