import numpy as np
import pandas as pd
import pytest
import torch

from molvae import MolVAE, UserError
from molvae.data.chem import to_mol


def test_encode_decode_shapes_and_determinism(tiny_model):
    smiles = ["CCOc1ccccc1", "CC(=O)Nc1ccc(O)cc1", "CCOc1ccccc1"]
    z = tiny_model.encode(smiles)
    assert z.shape == (3, tiny_model.latent_dim)
    assert torch.equal(z[0], z[2])  # duplicates are encoded, in order
    decoded = tiny_model.decode(z)
    assert len(decoded) == 3 and all(to_mol(s) is not None for s in decoded)
    assert decoded == tiny_model.decode(z.numpy())


def test_encode_bad_smiles_is_a_clear_error(tiny_model):
    with pytest.raises(UserError, match="Cannot encode 'C1CC'.*unparseable"):
        tiny_model.encode(["CCO", "C1CC"])
    with pytest.raises(UserError, match="token not in vocabulary"):
        tiny_model.encode(["C#[Se]C(F)(F)[Si](Br)(I)[B-](F)F"])


def test_sample_is_valid_and_seeded(tiny_model):
    a = tiny_model.sample(50, seed=4)
    assert a == tiny_model.sample(50, seed=4)
    assert all(s and to_mol(s) is not None for s in a)  # decoding starts with an atom
    assert a != tiny_model.sample(50, seed=5)


def test_decode_rejects_wrong_latent_size(tiny_model):
    with pytest.raises(UserError, match="latent"):
        tiny_model.decode(np.zeros((2, tiny_model.latent_dim + 1)))


def test_predict_returns_property_columns(tiny_model):
    frame = tiny_model.predict(["CCO", "c1ccccc1CCCCCC"])
    assert list(frame.columns) == ["smiles", "logp", "qed"]
    assert frame["logp"].notna().all()


def test_train_from_dataframe_returns_loadable_model(tmp_path, moses_smiles):
    from molvae import load_preset, train
    from molvae.config import DataConfig, replace

    p = load_preset("tiny")
    model = train(
        pd.DataFrame({"smiles": moses_smiles[:60]}),
        out=tmp_path / "run",
        model_config=p.model,
        train_config=replace(p.train, epochs=1),
        data_config=DataConfig(val_fraction=0.0),
        progress=False,
    )
    assert isinstance(model, MolVAE)
    again = MolVAE.load(tmp_path / "run" / "best.pt")
    assert again.vocab == model.vocab
    assert (tmp_path / "run" / "rejects.csv").exists()


def test_in_training_set(tiny_model, moses_smiles):
    from molvae.data.chem import to_smiles

    seen = tiny_model.in_training_set([to_smiles(moses_smiles[0]), "C" * 30])
    assert seen.tolist() == [True, False]


def test_fitted_prior_matches_the_latent_means_and_is_saved(
    tiny_model, moses_smiles, tmp_path, monkeypatch
):
    from molvae import MolVAE, UserError

    monkeypatch.setattr(tiny_model, "prior", None)  # restored even if the test fails

    with pytest.raises(UserError, match="no fitted prior"):
        tiny_model.sample(5, prior="fitted")
    with pytest.raises(UserError, match="Unknown prior"):
        tiny_model.sample(5, prior="uniform")
    with pytest.raises(UserError, match="at least"):
        tiny_model.fit_prior(moses_smiles[:10])
    tiny_model.fit_prior(moses_smiles[:300])
    fitted = tiny_model.prior
    mu = tiny_model.encode(moses_smiles[:300])
    assert torch.allclose(fitted.mean, mu.mean(dim=0), atol=1e-4)
    cov = fitted.scale_tril @ fitted.scale_tril.T
    assert torch.allclose(cov, torch.cov(mu.T), atol=1e-3)
    a = tiny_model.sample(20, seed=0)  # auto: the fitted prior, now that there is one
    assert a == tiny_model.sample(20, seed=0, prior="fitted")
    assert a != tiny_model.sample(20, seed=0, prior="standard")
    tiny_model.save(tmp_path / "m.pt")
    assert MolVAE.load(tmp_path / "m.pt").sample(20, seed=0) == a


def test_mixture_prior_samples_the_reference_posteriors_and_is_saved(
    tiny_model, moses_smiles, tmp_path, monkeypatch
):
    from molvae import MolVAE, UserError
    from molvae.prior import fit_prior, sample_latents

    monkeypatch.setattr(tiny_model, "prior", None)
    with pytest.raises(UserError, match="Unknown prior kind"):
        tiny_model.fit_prior(moses_smiles[:300], kind="flow")
    with pytest.raises(UserError, match="spread must be positive"):
        tiny_model.fit_prior(moses_smiles[:300], kind="mixture", spread=0)
    tiny_model.fit_prior(moses_smiles[:300], kind="mixture")
    prior = tiny_model.prior
    assert prior.kind == "mixture"
    ds, _ = tiny_model.prepare(moses_smiles[:300])
    mu, sigma = tiny_model.encode_posterior(ds)
    assert prior.components.shape == (len(ds), tiny_model.latent_dim)
    # the components are the reference molecules' posteriors (in a seeded random order)
    order = torch.cdist(prior.components, mu, compute_mode="donot_use_mm_for_euclid_dist").argmin(1)
    assert torch.allclose(prior.components, mu[order], atol=1e-5)
    assert torch.allclose(prior.component_scales, sigma[order], atol=1e-5)
    # max_components keeps a seeded random few of the same posteriors
    few = fit_prior(tiny_model, moses_smiles[:300], "mixture", max_components=50)
    assert few.components.shape == (50, tiny_model.latent_dim)
    exact = "donot_use_mm_for_euclid_dist"
    gaps = torch.cdist(few.components, prior.components, compute_mode=exact)
    assert gaps.min(dim=1).values.max() < 1e-5

    # each draw is one component's mean plus its own sd times N(0, I) noise
    def gen(seed: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    z = sample_latents(tiny_model, 500, generator=gen(0))
    gap = ((z[:, None] - mu[None]) / sigma[None]).pow(2).mean(-1).min(dim=1).values  # (500,)
    assert gap.median() < 1.5  # E[eps^2] = 1 from its own component; the nearest is closer
    monkeypatch.setattr(prior, "component_scales", torch.zeros_like(prior.component_scales))
    z0 = sample_latents(tiny_model, 50, generator=torch.Generator().manual_seed(0))
    assert torch.cdist(z0, prior.components, compute_mode=exact).min(dim=1).values.max() < 1e-5
    monkeypatch.undo()
    monkeypatch.setattr(tiny_model, "prior", None)
    tiny_model.prior = prior
    prior.spread = 1.5  # wider components: draws stray further from the references
    zw = sample_latents(tiny_model, 500, generator=torch.Generator().manual_seed(0))
    # same seed, same picks and noise: zw - m = 1.5 (z - m), so m = 3 z - 2 zw is a component
    means = 3 * z - 2 * zw
    assert torch.cdist(means, prior.components, compute_mode=exact).min(dim=1).values.max() < 1e-4
    a = tiny_model.sample(20, seed=0)
    tiny_model.save(tmp_path / "m.pt", half=True)
    ckpt = torch.load(tmp_path / "m.pt", weights_only=True)
    assert ckpt["latent_prior"]["components_u8"].dtype == torch.uint8  # 8 bits per number
    loaded = MolVAE.load(tmp_path / "m.pt")
    step = ckpt["latent_prior"]["components_range"][1]  # per column
    err = (loaded.prior.components - prior.components).abs()
    assert (err <= step / 2 + 1e-6).all() and err.max() > 0
    assert loaded.prior.kind == "mixture" and loaded.prior.spread == 1.5
    assert loaded.prior.consistent_spread is None  # so it samples plainly by default
    assert len(loaded.sample(20, seed=0)) == len(a)
    # A consistent spread is what self-consistent sampling draws with, and it is saved.
    prior.spread, prior.consistent_spread = 1.0, 3.0
    assert torch.equal(sample_latents(tiny_model, 500, generator=gen(0), consistent=False), z)
    zc = sample_latents(tiny_model, 500, generator=gen(0), consistent=True)
    means = (3 * z - zc) / 2  # zc - m = 3 (z - m)
    assert torch.cdist(means, prior.components, compute_mode=exact).min(dim=1).values.max() < 1e-4
    tiny_model.save(tmp_path / "c.pt")
    assert MolVAE.load(tmp_path / "c.pt").prior.consistent_spread == 3.0
    with pytest.raises(UserError, match="needs a mixture prior"):
        tiny_model.fit_prior(moses_smiles[:300], consistent_spread=2.0)
    with pytest.raises(UserError, match="spread must be positive"):
        prior.make_consistent(-1.0)
    prior.respread(2.5)  # plain and self-consistent sampling alike, from now on
    assert prior.spread == prior.consistent_spread == 2.5


def test_a_fitted_mixture_pools_the_unused_dimensions_sds_end_to_end(
    tiny_model, moses_smiles, monkeypatch, tmp_path
):
    """fit_prior pools the sds of the dimensions at or above POOL_SIGMA (moved here to the
    tiny model's median, which has no dimension near the free-bits floor); the half file
    stores them once, loads back, samples, and `molvae info` says so."""
    from molvae import MolVAE, UserError, mixture
    from molvae.cli.info import _sampling
    from molvae.prior import fit_prior

    ds, _ = tiny_model.prepare(moses_smiles[:300])
    mu, sigma = tiny_model.encode_posterior(ds)
    cut = sigma.mean(0).median().item()
    monkeypatch.setattr(mixture, "POOL_SIGMA", cut)
    pooled = sigma.mean(0) >= cut
    assert 0 < pooled.sum() < tiny_model.latent_dim
    prior = fit_prior(tiny_model, moses_smiles[:300], "mixture", 1.5)
    scales = prior.component_scales
    assert (scales[:, pooled] == scales[:1, pooled]).all()  # one sd per pooled dimension
    assert torch.allclose(scales[0, pooled] ** 2, sigma[:, pooled].pow(2).mean(0), rtol=1e-4)
    assert not (scales[:, ~pooled] == scales[:1, ~pooled]).all(0).any()  # the others: their own
    monkeypatch.setattr(tiny_model, "prior", prior)
    tiny_model.save(tmp_path / "p.pt", half=True)
    stored = torch.load(tmp_path / "p.pt", weights_only=True)["latent_prior"]
    assert torch.equal(stored["pooled"], pooled)
    assert stored["log_scales_u8"].shape == (len(ds), int((~pooled).sum()))
    assert stored["components_u8"].shape == (len(ds), tiny_model.latent_dim)
    loaded = MolVAE.load(tmp_path / "p.pt")
    assert torch.equal(loaded.prior.component_scales[:, pooled], scales[:, pooled])
    assert len(loaded.sample(10, seed=0)) == 10
    text = _sampling(loaded.prior)
    assert f"one sd shared in {int(pooled.sum())} of {tiny_model.latent_dim}" in text
    with pytest.raises(UserError, match="at least one component"):
        fit_prior(tiny_model, moses_smiles[:300], "mixture", max_components=0)
