"""vla_planner: System 2. Camera images + language instruction -> latent vector (ROS-free core,
thin ``planner_node``). Entry points: ``backbone.load_backbone``, ``embedded.EmbeddedPlanner``
(the trainable default nn.Module), ``text_encoder.TextEncoder``, ``hf_backbone.HFBackbone``.
See docs/PLANNER.md."""
