"""Scoring: time-to-target, study aggregation, performance profiles and the leaderboard.

The entry point for other code is `scoring.leaderboard.write_leaderboard`; the command line is
`bazel run //scoring:score`. See scoring/README.md for the rules and where we differ from upstream.
"""
