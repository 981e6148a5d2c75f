"""Helpers shared by the fine-tuning tasks."""


def keep_every_example(task, dataset, kwargs: dict) -> dict:
    """fairseq 0.12's batch_by_size drops the last batch when its size is not a multiple
    of --required-batch-size-multiple (default 8; fairseq issue #5036), so fairseq-generate
    and validation would silently skip up to 7 utterances. Outside training splits the
    multiple is 1."""
    train = {id(ds) for name, ds in task.datasets.items() if name.startswith("train")}
    if id(dataset) not in train and kwargs.get("required_batch_size_multiple", 1) != 1:
        kwargs = dict(kwargs, required_batch_size_multiple=1)
    return kwargs
