"""Active learning: mine the moments a policy is unsure of or fails at, correct them, retrain, evaluate.

uncertainty.py scores one observation (flow-sample spread, token entropy, ensemble disagreement);
mine.py rolls the policy out, keeps every visited sim state with its score and the failure detector's
hard moments, and picks the moments to correct; correct.py restores those states and lets the scripted
expert finish from there; version.py writes the corrections as a new dataset version merged with the
old one, with a review queue for people (queue.py); loop.py runs rounds of all of that (`vlaforge engine loop`).
"""
