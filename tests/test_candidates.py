"""Decoding and screening candidates, with a stand-in decoder (no VAE)."""

import torch

from molvae.config import OptimizeConfig
from molvae.optimize.candidates import decode_new
from molvae.optimize.constraints import Constraints


class _Decoder:
    """Greedy decodes come from ``greedy``, stochastic retries from ``retries``, both by
    candidate (a latent's first value); ``calls`` counts the stochastic decodes, ``batches``
    the calls that made them."""

    def __init__(self, greedy: list[str], retries: dict[int, list[str]]) -> None:
        self.greedy, self.retries = greedy, {k: list(v) for k, v in retries.items()}
        self.calls = self.batches = 0
        self.seeds = []

    def decode(self, z, greedy=True, seed=None, strict=False):
        self.strict = strict
        rows = [int(v) for v in z[:, 0]]
        if greedy:
            return [self.greedy[r] for r in rows]
        self.calls += len(rows)
        self.batches += 1
        self.seeds.append(seed)
        return [self.retries.get(r, []).pop(0) if self.retries.get(r) else "" for r in rows]


def test_known_molecules_and_rule_breakers_are_retried_and_rule_breakers_turned_away():
    z = torch.arange(5, dtype=torch.float64).repeat_interleave(2).reshape(5, 2)
    big, ring8, ring9 = "C" * 40, "C1CCCCCCC1", "C1CCCCCCCC1"  # over 38 heavy atoms; 8, 9-rings
    greedy = ["CCO", "CCO", "", big, ring8]
    retries = {1: ["CCN"], 3: ["CCCO"], 4: [ring9]}
    decoder = _Decoder(greedy, retries)
    batch = decode_new(decoder, z, {"c1ccccc1"}, Constraints(OptimizeConfig()), seed=0, strict=True)
    # Row 1 repeats row 0 and is retried into CCN; row 2 has no strict decode even after five
    # retries; row 3 is too large and its first retry passes; row 4 and its first retry break
    # the ring-size guard, and its other retries decode to nothing.
    assert decoder.strict  # repaired SELFIES count as no decode and cost no oracle call
    assert batch.smiles == ["CCO", "CCN", "CCCO"]
    assert torch.equal(batch.z, z[[0, 1, 3]])
    assert batch.reasons == {
        "no strict decode": 2,
        "too many heavy atoms": 1,
        "ring size outside 3-7": 2,
    }
    assert batch.turned_away == [big, ring8, ring9]  # each rule breaker once, never proposed again
    # Stochastic decodes: rows 1-4 once, then rows 2 and 4 four more times, one batch a round.
    assert decoder.calls == 12 and decoder.batches == 5
    assert len(set(decoder.seeds)) == 5  # each round draws anew


def test_molecules_seen_before_cost_nothing():
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    decoder = _Decoder(["CCO", "CCC"], retries={0: ["CCO"] * 5, 1: ["CCC"] * 5})  # nothing new
    batch = decode_new(decoder, z, {"CCO", "CCC"}, Constraints(OptimizeConfig()), seed=0)
    assert batch.smiles == [] and batch.z.shape == (0, 2)
    assert batch.reasons == {"already evaluated": 2} and batch.turned_away == []


def test_a_rule_breaker_decoded_twice_or_last_is_counted_once():
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    ring8 = "C1CCCCCCC1"
    # Both candidates decode the same 8-ring greedily; candidate 1's last retry breaks a rule.
    decoder = _Decoder([ring8, ring8], retries={0: ["CCO"], 1: [""] * 4 + ["C" * 40]})
    batch = decode_new(decoder, z, set(), Constraints(OptimizeConfig()), seed=0)
    assert batch.smiles == ["CCO"]
    assert batch.turned_away == [ring8, "C" * 40]
    assert batch.reasons == {"ring size outside 3-7": 1, "too many heavy atoms": 1}


def test_without_strictness_an_empty_decode_is_named_as_such():
    z = torch.zeros(1, 2, dtype=torch.float64)
    decoder = _Decoder([""], retries={})
    batch = decode_new(decoder, z, set(), Constraints(OptimizeConfig()), seed=0, strict=False)
    assert not decoder.strict and batch.reasons == {"decodes to nothing": 1}
