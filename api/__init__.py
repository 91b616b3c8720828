"""DistillGuard review service: detections queue, evidence, cases, enforcement, indicator sharing."""
