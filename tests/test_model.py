import torch

from molvae.config import ModelConfig
from molvae.data.dataset import Batch
from molvae.data.tokens import Vocab
from molvae.model import build_vae

CFG = ModelConfig(
    embed_dim=8, enc_hidden=12, dec_hidden=16, dec_layers=2, latent_dim=6, prop_hidden=8
)


def _batch(vocab_size=10, b=4, t=7):
    torch.manual_seed(0)
    ids = torch.randint(4, vocab_size, (b, t))
    lengths = torch.tensor([7, 5, 3, 6])
    for i, n in enumerate(lengths):
        ids[i, n - 1] = Vocab.eos_id
        ids[i, n:] = Vocab.pad_id
    return ids, lengths


def test_forward_shapes_and_finite_losses():
    model = build_vae(CFG, 10, n_props=3)
    ids, lengths = _batch()
    out = model(Batch(ids, lengths), word_dropout=0.2, sched_sampling=0.5, tau=0.7)
    assert out.logits.shape == (4, 7, 10)
    assert out.mu.shape == out.logvar.shape == (4, 6)
    assert out.kl_dims.shape == (6,)
    assert out.props.shape == (4, 3)
    assert torch.isfinite(out.recon_loss) and out.recon_loss > 0
    assert out.kl_loss.item() == __import__("pytest").approx(out.kl_dims.sum().item())
    out.recon_loss.backward()
    assert model.encoder.to_mu.weight.grad.abs().sum() > 0  # gradients reach the encoder


def test_encoder_ignores_padding():
    model = build_vae(CFG, 10, n_props=0).eval()
    ids, lengths = _batch()
    longer = torch.cat([ids, torch.zeros(4, 5, dtype=torch.long)], dim=1)
    mu1, _ = model.encoder(ids, lengths)
    mu2, _ = model.encoder(longer, lengths)
    assert torch.allclose(mu1, mu2, atol=1e-6)


def test_fast_step_equals_the_gru_run_step_by_step():
    model = build_vae(CFG, 10, n_props=0).eval()
    dec = model.decoder
    z = torch.randn(3, 6)
    toks = torch.tensor([[1, 5, 9], [1, 4, 4], [1, 7, 2]])  # (B, T)
    with torch.no_grad():
        full = dec(toks, z)  # (B, T, V) teacher-forced logits over the whole sequence
        h, cache = dec.init_hidden(z), dec.generation_cache(z)
        for t in range(toks.shape[1]):
            logits, h = dec.fast_step(toks[:, t], cache, h)
            assert torch.allclose(logits, full[:, t], atol=1e-5)


def test_generate_is_reproducible_and_well_formed():
    model = build_vae(CFG, 10, n_props=0).eval()
    z = torch.randn(20, 6)
    a = model.generate(z, 12, generator=torch.Generator().manual_seed(1))
    b = model.generate(z, 12, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.shape == (20, 12)
    assert (a[:, 0] != Vocab.eos_id).all()  # at least one real token
    assert not ((a == Vocab.pad_id) | (a == Vocab.bos_id) | (a == Vocab.unk_id)).any()
    for row in a:  # after the first <eos>, only <eos>
        ends = (row == Vocab.eos_id).nonzero()
        if len(ends):
            assert (row[ends[0, 0] :] == Vocab.eos_id).all()
    greedy1 = model.generate(z, 12, greedy=True)
    greedy2 = model.generate(z, 12, greedy=True)
    assert torch.equal(greedy1, greedy2)


def test_temperature_zero_is_greedy():
    model = build_vae(CFG, 10, n_props=0).eval()
    z = torch.randn(8, 6)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(
        model.generate(z, 12, temperature=0.0, generator=gen), model.generate(z, 12, greedy=True)
    )


def test_per_molecule_losses_average_to_the_mean_and_weights_pick_molecules():
    model = build_vae(CFG, 10, n_props=2).eval()
    ids, lengths = _batch()
    props = torch.tensor([[0.5, float("nan")], [1.0, 2.0], [0.0, 0.0], [float("nan")] * 2])
    each = model(Batch(ids, lengths, props), reduction="none", sample_z=False)
    mean = model(Batch(ids, lengths, props), sample_z=False)
    assert each.recon_loss.shape == each.kl_loss.shape == each.prop_loss.shape == (4,)
    assert torch.allclose(each.recon_loss.mean(), mean.recon_loss)
    assert torch.allclose(each.kl_loss.mean(), mean.kl_loss)
    only_second = torch.tensor([0.0, 1.0, 0.0, 0.0])
    picked = model(Batch(ids, lengths, props, only_second), sample_z=False)
    assert torch.allclose(picked.recon_loss, each.recon_loss[1])
    assert torch.allclose(picked.kl_loss, each.kl_loss[1])
    assert torch.allclose(picked.prop_loss, each.prop_loss[1])


def test_parts_are_passed_in_and_shared_embedding():
    model = build_vae(CFG, 10, n_props=2)
    assert model.encoder.embedding is model.decoder.embedding
    no_head = build_vae(CFG, 10, n_props=0)
    assert no_head.head is None
