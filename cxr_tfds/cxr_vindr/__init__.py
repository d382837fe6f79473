"""VinDr-CXR as a TFDS builder (`cxr_vindr`); see README.md beside this file."""
