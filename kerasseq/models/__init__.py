"""Model builders: plain functions returning ``keras.Model`` (backend-agnostic)."""

from kerasseq.models.nowcasting import build_convlstm_forecaster
from kerasseq.models.char_lm import build_char_language_model, generate, sample_next
from kerasseq.models.recurrent import (CELL_NAMES, RECURRENT_LAYERS, build_stacked_rnn,
                                     recurrent_layer, reset_recurrent_states, state_sizes)
from kerasseq.models.seq2seq import build_seq2seq, build_seq2seq_inference, seq2seq_decoding
from kerasseq.models.transformer import (ScaledEmbedding, build_transformer,
                                         build_transformer_inference, transformer_decoding)
from kerasseq.models.vit import VIT_CONFIGS, build_vit, vit
from kerasseq.models.swin import SWIN_CONFIGS, build_swin, build_swinv2, swin
from kerasseq.models.trajectories import build_trajectory_forecaster, build_trajectory_model
from kerasseq.models.forecasting import (FORECASTERS, build_dlinear, build_patchtst,
                                        build_transformer_forecaster, patch_attention, with_revin)
from kerasseq.models.recurrent_forecasting import (RECURRENT_FORECASTERS, build_narx, build_rnn_forecaster,
                                                  build_tdnn, forecaster_from_training_model)
from kerasseq.models.tree_classifier import TREE_MODELS, build_tree_classifier, gather_root
from kerasseq.models.backbones import build_resnet_backbone, build_resnet_classifier
from kerasseq.models.captioning import (CAPTION_ENCODERS, CAPTION_MODELS, Captioner, build_caption_encoder,
                                        build_captioner)
from kerasseq.models.vqa import VQA_MODELS, attention_model, build_vqa_model
from kerasseq.models.video import (VIDEO_MODELS, build_convlstm_classifier, build_frame_average_classifier,
                                   build_frame_encoder, build_lrcn)
from kerasseq.models.handwriting import build_handwriting_predictor, draw_noise, handwriting_sampler
from kerasseq.models.handwriting_synthesis import (build_handwriting_synthesizer,
                                                   handwriting_synthesis_sampler, window_model)
from kerasseq.models.pixelcnn import build_gated_pixelcnn, sample_pixelcnn
from kerasseq.models.pixelrnn import build_pixelrnn
