"""AlgoPerf, rebuilt: the submission API, the runner and its utilities."""
__version__ = '0.6.0'
