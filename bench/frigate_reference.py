"""Reference implementation of Frigate's published motion algorithm, for the benchmark only.

Follows `frigate/motion/improved_motion.py` (`ImprovedMotionDetector.detect`) of
https://github.com/blakeblackshear/frigate with Frigate's default `MotionConfig`: frame_height 100,
improve_contrast on (4th-96th percentile stretch averaged over the last 50 frames), Gaussian blur
sigma 1 with radius 1 (Frigate uses scipy's `gaussian_filter`; a 3x3 `cv2.GaussianBlur` with
sigma 1 and reflected borders is the same kernel), absolute difference against a running average
(frame_alpha 0.01, 0.2 while calibrating), threshold 30, one 3x3 dilation, external contours with
area > 10 px (contour_area), recalibration when contours cover > 80 % of the frame
(lightning_threshold 0.8), and the "only average in after 10 frames of motion" rule.
Dropped: PTZ autotracking, debug image saving and live config updates. Motion = any box.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt


class FrigateReference:
    """Frigate's ImprovedMotionDetector with default settings."""

    def __init__(
        self,
        frame_shape: tuple[int, int],
        frame_height: int = 100,
        threshold: int = 30,
        contour_area: int = 10,
        frame_alpha: float = 0.01,
        lightning_threshold: float = 0.8,
        contrast_frame_history: int = 50,
        mask: npt.NDArray[np.uint8] | None = None,
    ) -> None:
        self.frame_shape = frame_shape
        self.resize_factor = frame_shape[0] / frame_height
        self.motion_frame_size = (frame_height, frame_height * frame_shape[1] // frame_shape[0])
        self.avg_frame = np.zeros(self.motion_frame_size, np.float32)
        self.motion_frame_count = 0
        self.calibrating = True
        self.threshold = threshold
        self.contour_area = contour_area
        self.frame_alpha = frame_alpha
        self.lightning_threshold = lightning_threshold
        self.contrast_values = np.zeros((contrast_frame_history, 2), np.uint8)
        self.contrast_values[:, 1:2] = 255
        self.contrast_values_index = 0
        self.mask: tuple[npt.NDArray[np.intp], ...] | None = None
        if mask is not None:
            resized = cv2.resize(
                mask, (self.motion_frame_size[1], self.motion_frame_size[0]), cv2.INTER_AREA
            )
            self.mask = np.where(resized == 0)

    def detect(self, gray: npt.NDArray[np.uint8]) -> list[tuple[int, int, int, int]]:
        """Motion boxes (x1, y1, x2, y2) in input pixels, as Frigate returns them."""
        boxes: list[tuple[int, int, int, int]] = []
        resized = cv2.resize(
            gray,
            dsize=(self.motion_frame_size[1], self.motion_frame_size[0]),
            interpolation=cv2.INTER_NEAREST,
        )
        min_value = np.percentile(resized, 4).astype(np.uint8)
        max_value = np.percentile(resized, 96).astype(np.uint8)
        if min_value < max_value:
            self.contrast_values[self.contrast_values_index] = [min_value, max_value]
            self.contrast_values_index = (self.contrast_values_index + 1) % len(
                self.contrast_values
            )
            avg_min, avg_max = np.mean(self.contrast_values, axis=0)
            resized = np.clip(resized, avg_min, avg_max)
            resized = (((resized - avg_min) / (avg_max - avg_min)) * 255).astype(np.uint8)
        if self.mask is not None:
            resized[self.mask] = 0
        resized = cv2.GaussianBlur(resized, (3, 3), 1.0, borderType=cv2.BORDER_REFLECT)

        delta = cv2.absdiff(resized, cv2.convertScaleAbs(self.avg_frame))
        thresh = cv2.threshold(delta, self.threshold, 255, cv2.THRESH_BINARY)[1]
        thresh = cv2.dilate(thresh, None, iterations=1)  # type: ignore[call-overload]
        contours, _ = cv2.findContours(thresh, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        total_area = 0.0
        for c in contours:
            area = cv2.contourArea(c)
            total_area += area
            if area > self.contour_area:
                x, y, w, h = cv2.boundingRect(c)
                f = self.resize_factor
                boxes.append((int(x * f), int(y * f), int((x + w) * f), int((y + h) * f)))
        pct_motion = total_area / (self.motion_frame_size[0] * self.motion_frame_size[1])

        if pct_motion < 0.05 and len(boxes) <= 4:
            self.calibrating = False
        if self.calibrating or pct_motion > self.lightning_threshold:
            self.calibrating = True

        alpha = 0.2 if self.calibrating else self.frame_alpha
        if boxes:
            self.motion_frame_count += 1
            if self.motion_frame_count >= 10:
                cv2.accumulateWeighted(resized, self.avg_frame, alpha)
        else:
            cv2.accumulateWeighted(resized, self.avg_frame, alpha)
            self.motion_frame_count = 0
        return boxes
