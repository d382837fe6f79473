"""`cxr_siim`: SIIM-ACR Pneumothorax with its pixel masks (see README.md here).

Pure modules (no TensorFlow): `rle` (the run-length codes), `metadata` (train-rle.csv),
`labels` (the shared label space), `source_dir` (the manual dir), `examples` (pixels).
"""
