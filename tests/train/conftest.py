import pytest


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """6 episodes, 32x32 cameras: small enough for many short trainings."""
    from vlaforge.data import open_dataset
    from vlaforge.data.sample import make_sample_dataset

    return open_dataset(make_sample_dataset(tmp_path_factory.mktemp("tiny") / "ds", episodes=6, length=30, image_size=32))
