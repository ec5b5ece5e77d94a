#ifndef CSANDBOX_H
#define CSANDBOX_H
int cs_placeholder(void);
#endif
