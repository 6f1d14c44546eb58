"""What the tests share, in one place: ``engine`` (the loss-test kit: cases, input makers, the checks
every loss gets, values and gradients) and ``http`` (clients, the live server, reading answers).
Test modules import from here and from nowhere else in ``tests``."""
