import dataclasses

import pytest

from speech_lstm.config import (
    DecodeOptions,
    ExperimentConfig,
    FeatureConfig,
    ModelConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)
from speech_lstm.errors import ConfigError


def test_feature_defaults_and_derived_values():
    fc = FeatureConfig()
    assert (fc.sample_rate, fc.win_length, fc.hop_length) == (16000, 400, 160)
    assert fc.frames_per_second == 100
    assert fc.feature_dim == 39
    assert fc.num_frames(16000) == 101


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_mfcc": 50}, "n_mfcc must be in"),
        ({"win_ms": 5, "hop_ms": 10}, "win_ms"),
        ({"n_fft": 256}, "n_fft"),
        ({"deltas": 3}, "deltas"),
        ({"normalize": "global"}, "normalize"),
        ({"fmax": 9000}, "fmax"),
        ({"top_db": -1}, "top_db"),
        ({"sample_rate": 100}, "sample_rate"),
    ],
)
def test_feature_config_rejects(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        FeatureConfig(**kwargs)


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (ModelConfig, {"subsample": "pool"}, "model.subsample"),
        (ModelConfig, {"subsample": "none", "subsample_factor": 2}, "subsample_factor > 1 needs"),
        (ModelConfig, {"dropout": 1.0}, "dropout"),
        (ModelConfig, {"lstm_layers": 0}, "lstm_layers"),
        (TrainConfig, {"batch_size": 0}, "batch_size"),
        (TrainConfig, {"bucket_seconds": (3.0, 2.0)}, "strictly increasing"),
        (TrainConfig, {"min_duration": 9, "max_duration": 8}, "min_duration"),
        (TrainConfig, {"lr_factor": 1.5}, "lr_factor"),
    ],
)
def test_model_and_train_config_reject(cls, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        cls(**kwargs)


def test_decode_options_conflicts():
    assert DecodeOptions().strategy == "greedy"
    assert DecodeOptions("beam").beam_width == 16
    with pytest.raises(ConfigError, match="beam_width needs strategy='beam'"):
        DecodeOptions(beam_width=4)
    with pytest.raises(ConfigError, match="top_paths > 1 needs strategy='beam'"):
        DecodeOptions(top_paths=2)
    with pytest.raises(ConfigError, match="top_paths must be in"):
        DecodeOptions("beam", beam_width=2, top_paths=3)
    with pytest.raises(ConfigError, match="strategy must be"):
        DecodeOptions("viterbi")


def test_yaml_round_trip(tmp_path):
    cfg = ExperimentConfig(model=ModelConfig(lstm_units=64), train=TrainConfig(bucket_seconds=(1.0, 2.0)))
    save_config(cfg, tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again == cfg
    assert config_to_dict(again)["train"]["bucket_seconds"] == [1.0, 2.0]


def test_overrides_are_type_checked():
    cfg = apply_overrides(ExperimentConfig(), ["train.batch_size=8", "model.dropout=0.3", "features.fmax=null",
                                               "train.jit_compile=false", "train.bucket_seconds=[1, 2]"])
    assert cfg.train.batch_size == 8 and cfg.model.dropout == 0.3 and cfg.features.fmax is None
    assert cfg.train.jit_compile is False and cfg.train.bucket_seconds == (1.0, 2.0)
    with pytest.raises(ConfigError, match="train.batch_size expects an integer"):
        apply_overrides(ExperimentConfig(), ["train.batch_size=big"])
    with pytest.raises(ConfigError, match="unknown option 'train.batchsize'"):
        apply_overrides(ExperimentConfig(), ["train.batchsize=8"])
    with pytest.raises(ConfigError, match="must look like section.key=value"):
        apply_overrides(ExperimentConfig(), ["train.batch_size"])
    with pytest.raises(ConfigError, match="override key 'optim.lr'"):
        apply_overrides(ExperimentConfig(), ["optim.lr=1"])
    with pytest.raises(ConfigError, match="train.jit_compile expects true/false"):
        apply_overrides(ExperimentConfig(), ["train.jit_compile=3"])


def test_unknown_keys_in_yaml_name_the_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model:\n  lstm_unit: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown option\(s\) model.lstm_unit"):
        load_config(p)
    p.write_text("optimizer: {}\n")
    with pytest.raises(ConfigError, match="unknown config section"):
        load_config(p)
    p.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_recipe_configs_load():
    from pathlib import Path

    import yaml

    from speech_lstm.music.model import MusicModelConfig

    recipes = Path(__file__).parent.parent / "recipes"
    paths = [*(recipes / "digits").glob("configs/*.yaml"), *(recipes / "sentences").glob("configs/*.yaml"),
             *(recipes / "librispeech").glob("configs/*.yaml")]
    assert len(paths) >= 17
    for path in paths:
        cfg = load_config(path)
        assert dataclasses.is_dataclass(cfg)
    for path in (recipes / "bach_chorales").glob("configs/*.yaml"):  # music recipes: one section per model
        cfg = yaml.safe_load(path.read_text())
        sections = [v for v in cfg.values() if isinstance(v, dict) and "kind" in v]
        assert len(sections) >= 3 and all(MusicModelConfig(**v) for v in sections)
    assert config_from_dict({}) == ExperimentConfig()


def test_recipes_refuse_test_voices_heard_in_training(tmp_path):
    import json

    from speech_lstm.recipe import check_unseen_voices

    def manifest(name, speakers):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"audio_filepath": f"{s}.wav", "text": "a", "duration": 1.0,
                                            "speaker": s}) + "\n" for s in speakers))
        return path

    manifests = {"train": manifest("train", ["default", "Andy", "Jacky"]), "dev": manifest("dev", ["Mr serious"]),
                 "test": manifest("test", ["Henrique", "Lee"])}
    check_unseen_voices(manifests)
    manifests["test"] = manifest("test", ["Henrique", "Jacky"])
    with pytest.raises(ConfigError, match=r"test.jsonl: voices Jacky are also in .*train.jsonl"):
        check_unseen_voices(manifests)
