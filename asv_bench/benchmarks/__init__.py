"""optkit's asv suite: every kernel x backend x size, with torch CPU as a peer."""
