/*
 * version.h - the release of Junction this tree builds.
 *
 * Owns nothing; one macro, bumped on every release.
 */
#ifndef JUNCTION_VERSION_H
#define JUNCTION_VERSION_H

#define JUNCTION_VERSION "0.1.0"

#endif
