"""Crisis notifications: who is told (``config``), what they read (``messages``), how it travels (``senders``)
and that each crisis event is told once per destination (``outbox``)."""
