/* main: command line, lifecycle, signals, systemd notification.
 * Nothing here is used by other modules; the header exists for symmetry. */
#ifndef SLUICE_MAIN_H
#define SLUICE_MAIN_H
#endif
