"""The image path: keypoints -> features -> matches, and their scores on HPatches sequences.

``keypoints`` detects (OpenCV) and cuts scale- and orientation-normalised patches; ``extract``
turns an image into features with a run or a named descriptor (``make_extractor``); ``features``
is the interchange format (D2-Net ``.npz`` files); ``match`` pairs features of two images and
estimates a homography (OpenCV USAC/MAGSAC); ``draw`` pictures a match. See docs/matching.md and
../shared/docs/image-matching-protocol.md.
"""
