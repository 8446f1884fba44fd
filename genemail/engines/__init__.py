"""Engines that run GenEmail's batch jobs past one process.

``local`` (the default) is the embedded single-machine path: ``genemail segment predict`` and
``genemail campaign`` run in this process. ``ray`` runs the very same scoring and generation functions as
Ray Data ``map_batches`` over Parquet partitions, on a Ray cluster (``--ray-address``) or on a local one
started for the run:

* :mod:`genemail.engines.cluster`: joining or starting the cluster, and how many workers it holds;
* :mod:`genemail.engines.workdir`: the run's folder: input partitions, one output folder per partition,
  finished partitions skipped when a run is resumed;
* :mod:`genemail.engines.ray_batch`: the Ray Data job (``read_parquet`` -> ``map_batches`` with an actor
  class that loads its models once) and the worker base class;
* :mod:`genemail.engines.ray_segment` and :mod:`genemail.engines.ray_campaign`: the two jobs.

Ray is imported only when a Ray job runs.
"""

ENGINES: tuple[str, ...] = ("local", "ray")
