"""Model builders by name."""

from speech_lstm.models.ctc_asr import CTCASRModel, FrameSubsampling, ProjectedLSTM, build_ctc_asr

__all__ = ["CTCASRModel", "FrameSubsampling", "ProjectedLSTM", "build_ctc_asr", "MODELS"]

MODELS = {"bilstm_ctc": build_ctc_asr}
