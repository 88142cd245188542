import numpy as np
import pandas as pd
import pytest
import torch

from molvae.data.chem import to_mol
from molvae.errors import UserError
from molvae.latent import interpolation_path, project, tanimoto_to

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def test_linear_path_is_evenly_spaced_between_the_ends():
    a, b = torch.tensor([0.0, 0.0]), torch.tensor([4.0, 2.0])
    path = interpolation_path(a, b, 5, "linear")
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b)
    assert torch.allclose(path[2], torch.tensor([2.0, 1.0]))


def test_slerp_keeps_the_norm_where_linear_shrinks_it():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    slerp = interpolation_path(a, b, 3, "slerp")
    assert torch.allclose(slerp[0], a) and torch.allclose(slerp[-1], b, atol=1e-6)
    assert slerp[1].norm().item() == pytest.approx(3.0)
    assert torch.allclose(slerp[1], torch.tensor([1.0, 1.0]) * 3 / 2**0.5)
    assert interpolation_path(a, b, 3, "linear")[1].norm().item() == pytest.approx(3 / 2**0.5)


def test_slerp_of_parallel_vectors_is_the_straight_line():
    a = torch.tensor([1.0, 1.0])
    path = interpolation_path(a, 2 * a, 3, "slerp")
    assert torch.allclose(path[1], 1.5 * a)


def test_bad_interpolation_arguments_are_user_errors():
    with pytest.raises(UserError, match="Unknown interpolation"):
        interpolation_path(torch.zeros(2), torch.ones(2), 5, "cubic")
    with pytest.raises(UserError, match="at least 2"):
        interpolation_path(torch.zeros(2), torch.ones(2), 1)


def test_tanimoto_to_itself_is_one_and_nan_for_missing():
    sims = tanimoto_to(ASPIRIN, [ASPIRIN, "CCO", None])
    assert sims[0] == 1.0 and 0 <= sims[1] < 0.3 and np.isnan(sims[2])


def test_pca_projection_keeps_the_main_direction():
    rng = np.random.default_rng(0)
    z = np.zeros((50, 4))
    z[:, 2] = np.linspace(-5, 5, 50)
    z += rng.normal(scale=0.01, size=z.shape)
    xy = project(z, "pca")
    assert xy.shape == (50, 2)
    assert abs(np.corrcoef(xy[:, 0], z[:, 2])[0, 1]) > 0.99


def test_interpolation_is_valid_at_every_step_and_starts_at_the_reconstruction(pretrained):
    a, b = "CC(=O)Nc1ccc(O)cc1", "Cc1ccc(S(N)(=O)=O)cc1"
    path = pretrained.interpolate(a, b, steps=7)
    assert list(path["step"]) == list(range(7))
    assert all(s and to_mol(s) is not None for s in path["smiles"])
    assert path["smiles"].iloc[0] == pretrained.reconstruct([a])[0]
    assert path["smiles"].iloc[-1] == pretrained.reconstruct([b])[0]
    # The ends are the inputs or close relatives of them, and the path moves from a to b.
    assert path["similarity_to_a"].iloc[0] >= 0.5
    assert path["similarity_to_b"].iloc[-1] >= 0.5
    assert path["similarity_to_a"].iloc[0] > path["similarity_to_a"].iloc[-1]


def test_neighbors_are_distinct_sorted_and_similar(pretrained):
    frame = pretrained.neighbors(ASPIRIN, n=10, radius=0.5, seed=0)
    assert len(frame) == 10
    assert frame["smiles"].is_unique and ASPIRIN not in set(frame["smiles"])
    assert list(frame["similarity"]) == sorted(frame["similarity"], reverse=True)
    assert frame["similarity"].iloc[0] >= 0.4
    again = pretrained.neighbors(ASPIRIN, n=10, radius=0.5, seed=0)
    pd.testing.assert_frame_equal(frame, again)
    wider = pretrained.neighbors(ASPIRIN, n=10, radius=3.0, seed=0)
    assert wider["similarity"].mean() < frame["similarity"].mean()


def test_latent_map_colours_by_column_or_property(pretrained, tmp_path):
    table = tmp_path / "t.csv"
    smiles = pd.read_csv("data/moses_test_1k.csv")["SMILES"].head(40).tolist()
    pd.DataFrame({"SMILES": smiles + ["not a molecule"], "pIC50": np.arange(41.0)}).to_csv(
        table, index=False
    )
    frame, rejects = pretrained.latent_map(table, color="pIC50")
    assert len(frame) == 40 and len(rejects) == 1
    assert list(frame["pIC50"]) == list(np.arange(40.0))  # each value stays with its molecule
    frame, _ = pretrained.latent_map(table, color="qed", method="tsne")
    assert frame["qed"].between(0, 1).all() and np.isfinite(frame[["x", "y"]]).all().all()
    with pytest.raises(UserError, match="Cannot colour"):
        pretrained.latent_map(table, color="potency")
