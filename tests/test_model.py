import torch

from molvae.config import ModelConfig
from molvae.model import build_vae
from molvae.tokens import Vocab

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
    model = build_vae(CFG, vocab_size=10, n_props=3)
    ids, lengths = _batch()
    out = model(ids, lengths, word_dropout=0.2, sched_sampling=0.5, tau=0.7)
    assert out.logits.shape == (4, 7, 10)
    assert out.mu.shape == out.logvar.shape == (4, 6)
    assert out.kl_dims.shape == (6,)
    assert out.props.shape == (4, 3)
    assert torch.isfinite(out.recon_loss) and out.recon_loss > 0
    out.recon_loss.backward()
    assert model.encoder.to_mu.weight.grad.abs().sum() > 0  # gradients reach the encoder


def test_encoder_ignores_padding():
    model = build_vae(CFG, vocab_size=10, n_props=0).eval()
    ids, lengths = _batch()
    longer = torch.cat([ids, torch.zeros(4, 5, dtype=torch.long)], dim=1)
    mu1, _ = model.encoder(ids, lengths)
    mu2, _ = model.encoder(longer, lengths)
    assert torch.allclose(mu1, mu2, atol=1e-6)


def test_fast_step_equals_gru_step():
    model = build_vae(CFG, vocab_size=10, n_props=0).eval()
    dec = model.decoder
    z = torch.randn(3, 6)
    tok = torch.tensor([1, 5, 9])
    h = dec.init_hidden(z)
    with torch.no_grad():
        l1, h1 = dec.step(dec.embedding(tok), z, h)
        l2, h2 = dec.fast_step(tok, dec.generation_cache(z), h)
    assert torch.allclose(l1, l2, atol=1e-5) and torch.allclose(h1, h2, atol=1e-5)


def test_generate_is_reproducible_and_well_formed():
    model = build_vae(CFG, vocab_size=10, n_props=0).eval()
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


def test_relaxed_decode_is_differentiable_in_z():
    model = build_vae(CFG, vocab_size=10, n_props=0)
    z = torch.randn(2, 6, requires_grad=True)
    soft = model.decoder.relaxed_decode(z, max_len=5, tau=0.5)
    assert soft.shape == (2, 5, 10)
    assert torch.allclose(soft.sum(-1), torch.ones(2, 5), atol=1e-5)
    soft[..., 4].sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_parts_are_passed_in_and_shared_embedding():
    model = build_vae(CFG, vocab_size=10, n_props=2)
    assert model.encoder.embedding is model.decoder.embedding
    no_head = build_vae(CFG, vocab_size=10, n_props=0)
    assert no_head.head is None
