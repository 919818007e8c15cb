"""Electrophysiology: ACTD stimuli, the Hodgkin-Huxley simulator, spike features and how strongly each
feature separates the classes."""
