"""Which variables AdamWeightDecay decays: transformers 4.57.6's substring rule, regex only when asked.

The decayed set is observed, not read from the predicate: one step with zero gradients moves
nothing through Adam (m = v = 0), so exactly the decayed variables change (by ``lr * rate * w``).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from keras_env import LEGACY, keras, to_numpy  # noqa: E402

from hfopt_adamweightdecay import AdamWeightDecay  # noqa: E402

#: the pattern lists of issue 14, given as exclude_from_weight_decay (and one include case).
PATTERNS = [
    {"exclude_from_weight_decay": ["LayerNorm.gamma", "bias"]},
    {"exclude_from_weight_decay": ["bias:0$"]},
    {"exclude_from_weight_decay": ["(bias"]},
    {"exclude_from_weight_decay": ["LayerNorm", "layer_norm", "bias"]},
    {"exclude_from_weight_decay": ["LayerNorm", "bias"], "include_in_weight_decay": ["LayerNorm/gamma", "query"]},
    {"include_in_weight_decay": ["(bias"]},
]
IDS = ["LayerNorm.gamma+bias", "bias:0$", "(bias", "transformers-default", "include-wins", "include-(bias"]


def zero_step(optimizer, variables):
    """Names of the variables one zero-gradient step changes (the decayed ones), starting from all ones."""
    before = [np.array(to_numpy(v)) for v in variables]
    for v in variables:
        v.assign(np.ones(v.shape, np.float32))
    zeros = [keras.ops.zeros(v.shape) if not LEGACY else keras.backend.zeros_like(v) for v in variables]
    optimizer.apply_gradients(zip(zeros, variables))
    changed = {v.name if LEGACY else v.path for v in variables if not np.all(to_numpy(v) == 1)}
    for v, b in zip(variables, before):
        v.assign(b)
    return changed


def transformers_rule(names, weight_decay_rate=0.1, **patterns):
    """transformers 4.57.6's own decision, applied to the names hfopt matches on."""
    from transformers.optimization_tf import AdamWeightDecay as HFAdamWeightDecay

    oracle = HFAdamWeightDecay(weight_decay_rate=weight_decay_rate, **patterns)
    return {n for n in names if oracle._do_use_weight_decay(n)}


@pytest.fixture(scope="module")
def tf_bert():
    """transformers' TF BERT (tiny config, 2 layers: 39 variables); transformers' TF models need tf-keras."""
    if not LEGACY:
        pytest.skip("transformers' TF models run on tf-keras only (the tf_keras flavour run covers this)")
    from transformers import BertConfig, TFBertModel

    config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=16)
    model = TFBertModel(config)
    model(model.dummy_inputs)
    return model


@pytest.mark.parametrize("patterns", PATTERNS, ids=IDS)
def test_tf_bert_decays_what_transformers_decays(tf_bert, patterns):
    import tensorflow as tf
    from transformers.optimization_tf import AdamWeightDecay as HFAdamWeightDecay

    variables = tf_bert.trainable_variables
    ours = zero_step(AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.5, **patterns), variables)
    theirs = zero_step(HFAdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.5, **patterns), variables)
    assert ours == theirs
    assert 0 < len(ours) <= len(variables) == 39
    assert all(isinstance(v, tf.Variable) for v in variables)


def test_tf_bert_issue_counts(tf_bert):
    names = [v.name for v in tf_bert.trainable_variables]
    biases = {n for n in names if "bias" in n}
    decayed = zero_step(AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.5,
                                        exclude_from_weight_decay=["LayerNorm.gamma", "bias"]),
                        tf_bert.trainable_variables)
    assert decayed == set(names) - biases  # "LayerNorm.gamma" is text: LayerNorm/gamma:0 is decayed
    decayed = zero_step(AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.5, exclude_from_weight_decay=["bias:0$"]),
                        tf_bert.trainable_variables)
    assert decayed == set(names)


@pytest.mark.parametrize("exclude", [["bias:0$"], ["LayerNorm.gamma", "bias$"], ["^(?!.*kernel)"]])
def test_tf_bert_regex_matching_is_opt_in(tf_bert, exclude):
    names = [v.name for v in tf_bert.trainable_variables]
    decayed = zero_step(AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.5, exclude_from_weight_decay=exclude,
                                        pattern_matching="regex"), tf_bert.trainable_variables)
    assert decayed == {n for n in names if not any(re.search(p, n) for p in exclude)}


def keras3_model():
    """A Keras 3 model whose layer names are BERT's (its variables' paths hold them)."""
    inputs = keras.Input((4,))
    x = keras.layers.Embedding(10, 4, name="word_embeddings")(keras.ops.cast(inputs, "int32"))
    x = keras.layers.LayerNormalization(name="LayerNorm")(x)
    x = keras.layers.Dense(4, name="query")(x)
    x = keras.layers.Dense(4, name="dense")(x)
    x = keras.layers.LayerNormalization(name="output_layer_norm")(x)
    return keras.Model(inputs, x, name="bert")


@pytest.mark.skipif(LEGACY, reason="Keras 3: matched on the variable's path and name")
@pytest.mark.parametrize("patterns", PATTERNS, ids=IDS)
def test_keras3_decays_what_the_transformers_rule_decides_on_the_path(patterns):
    variables = keras3_model().trainable_variables
    decayed = zero_step(AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.5, **patterns), variables)
    # the path holds the name ("LayerNorm/gamma" holds "gamma"): the rule on the path decides
    assert decayed == transformers_rule([v.path for v in variables], **patterns)
    assert 0 < len(decayed) <= len(variables)


@pytest.mark.skipif(LEGACY, reason="Keras 3: matched on the variable's path and name")
def test_keras3_regex_matching_is_opt_in():
    variables = keras3_model().trainable_variables
    exclude = ["bias$", "(?i)norm"]
    decayed = zero_step(AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.5, exclude_from_weight_decay=exclude,
                                        pattern_matching="regex"), variables)
    assert decayed == {v.path for v in variables if not any(re.search(p, v.path) for p in exclude)}
    assert decayed == {"word_embeddings/embeddings", "query/kernel", "dense/kernel"}
    assert zero_step(AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.5, exclude_from_weight_decay=exclude),
                     variables) == {v.path for v in variables}  # as substrings these match nothing


def test_pattern_matching_round_trips_and_old_configs_get_substrings():
    optimizer = AdamWeightDecay(weight_decay_rate=0.1, exclude_from_weight_decay=["bias$"], pattern_matching="regex")
    config = optimizer.get_config()
    assert config["pattern_matching"] == "regex"
    assert AdamWeightDecay.from_config(config).pattern_matching == "regex"
    del config["pattern_matching"]  # a config written by hfopt 0.1 or transformers
    assert AdamWeightDecay.from_config(config).pattern_matching == "substring"


@pytest.mark.skipif(LEGACY, reason="Keras 3: the optimizer tracks its own variables")
def test_keras3_optimizer_holds_only_its_own_variables():
    variables = keras3_model().trainable_variables
    optimizer = AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.5, exclude_from_weight_decay=["bias"])
    optimizer.build(variables)
    own = {id(v) for v in optimizer.variables}
    assert not own & {id(v) for v in variables}
    assert len(optimizer.variables) == 2 + 2 * len(variables)  # iterations, learning rate, m and v per variable


NAME_PARTS = ["LayerNorm", "layer_norm", "gamma", "beta", "bias", "kernel", "dense", "/", ":0", ".", "(", "$", "^",
              "*", "[", "\\", "query"]


def test_the_rule_is_transformers_on_any_names_and_patterns():
    """Property: for arbitrary names and pattern lists (regex metacharacters included) the decision is transformers'."""
    from hypothesis import given, settings, strategies as st
    from transformers.optimization_tf import AdamWeightDecay as HFAdamWeightDecay

    text = st.lists(st.sampled_from(NAME_PARTS), min_size=0, max_size=5).map("".join)
    patterns = st.none() | st.lists(text, max_size=3)
    oracle = HFAdamWeightDecay(weight_decay_rate=0.1)
    ours = AdamWeightDecay(weight_decay_rate=0.1)

    @settings(max_examples=200, deadline=None, database=None)
    @given(name=text, include=patterns, exclude=patterns)
    def check(name, include, exclude):
        oracle._include_in_weight_decay, oracle._exclude_from_weight_decay = include, exclude
        ours._include_in_weight_decay, ours._exclude_from_weight_decay = include, exclude
        assert ours._do_use_weight_decay(name) == oracle._do_use_weight_decay(name)

    check()
