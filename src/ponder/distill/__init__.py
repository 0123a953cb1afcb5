"""Search, then learn: train a model on what test-time compute found, so that next time one sample
does what many did (rejection-sampling fine-tuning, STaR, ReST-EM, majority-vote self-training).

- `data`: training examples from eval logs, by mode (`verified`, `majority`, `teacher`), balanced
  per question, with a validation split by question;
- `train`: LoRA fine-tuning with transformers + peft (resumable checkpoints, explicit seeds,
  counted FLOPs), merged into a plain checkpoint;
- `gguf`: the merged checkpoint converted and quantised with llama.cpp's own converter and
  quantiser, so the embedded backend serves it;
- `pipeline`: `ponder distill`'s rounds (sample, select, train, export, register).

Nothing here is imported by `import ponder`: torch, transformers and peft load only when a model is
trained.
"""
