"""From raw video to VideoLights features: decoding with HERO's frame rules (decode.py), SlowFast-R50
(slowfast.py, convert_slowfast.py), CLIP ViT-B/32 (clip.py) and BLIP-2 (blip2.py).

Needs the optional extra `pip install -e .[video]` (av, transformers, safetensors, ftfy); nothing else in
video_lights imports this package, so the trainer and the evaluator never load them.
"""
