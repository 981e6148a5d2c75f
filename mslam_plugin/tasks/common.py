"""Helpers shared by the fine-tuning tasks."""

import logging

logger = logging.getLogger(__name__)


def keep_every_example(task, dataset, kwargs: dict) -> dict:
    """fairseq 0.12's batch_by_size drops the last batch when its size is not a multiple
    of --required-batch-size-multiple (default 8; fairseq issue #5036): fairseq-generate
    and validation would silently skip up to 7 utterances, and training would never see
    the shortest ones (the last batch of the length-sorted order). Our tasks batch with a
    multiple of 1, so every example is used."""
    multiple = kwargs.get("required_batch_size_multiple", 1)
    if multiple != 1:
        if not getattr(task, "_told_batch_multiple", False):
            logger.info("--required-batch-size-multiple %d -> 1: fairseq would drop the last "
                        "batch of every split otherwise", multiple)
            task._told_batch_multiple = True
        kwargs = dict(kwargs, required_batch_size_multiple=1)
    return kwargs
