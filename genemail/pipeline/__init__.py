"""The pipeline: the stages run in order for a whole customer table (a campaign, plain or an experiment).

It sits above the stages it strings together (segmentation, generation, experiments), so it may take an
experiment's arms and write its send log, while :mod:`genemail.generation` knows nothing of experiments.
"""
