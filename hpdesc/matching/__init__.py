"""The image path: keypoints -> features -> matches, and their scores on HPatches sequences.

``features`` is the interchange format (D2-Net ``.npz`` files); ``match`` pairs features of two
images. See docs/matching.md and ../shared/docs/image-matching-protocol.md.
"""
