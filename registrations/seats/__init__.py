"""Seats: who occupies a seat (``queries``) and the only code that takes or frees one
(``booking``)."""
