"""Manifests, augmentation and the tf.data input pipeline."""
