"""Tests of the HLS C++ backend and its C simulation."""
